DROP TABLE IF EXISTS webhook_deliveries;
DROP SEQUENCE IF EXISTS webhook_delivery_seq;
DROP TABLE IF EXISTS webhook_subscriptions;
DELETE FROM projection_checkpoints WHERE projection IN ('webhooks', 'nats', 'kafka');
