-- Multi-class and regression models: the kind of model that scored each record, and a
-- multi-class model's probability of every class. Rows written before were binary.
ALTER TABLE {database}.scores ADD COLUMN model_kind String DEFAULT 'binary', ADD COLUMN class_labels Array(String), ADD COLUMN class_probabilities Array(Float64);
