DROP TABLE IF EXISTS account_daily, projection_checkpoints;
