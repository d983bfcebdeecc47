DROP TABLE IF EXISTS adjustment_proposals;
DROP TABLE IF EXISTS console_sessions;
