"""Grafana dashboards as code for scorestream, installed as ``scorestream.grafana``.

Importing the package imports nothing else: the alert e-mail needs only
:mod:`scorestream.grafana.links`, in an image without the dashboard builders.
"""
