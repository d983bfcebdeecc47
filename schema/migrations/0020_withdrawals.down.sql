DROP TABLE IF EXISTS withdrawal_destinations;
DROP TABLE IF EXISTS withdrawals;
