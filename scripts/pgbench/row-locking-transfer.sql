-- What a ledger that locks account rows does per transfer, for pgbench (scripts/bench runs it as the anchor of
-- the hot-account figures): one transaction that updates the two accounts in id order (so that two transfers
-- never wait for each other in a cycle), then inserts the transfer and its two entries. The accounts are drawn
-- as the service's load draws them: uniformly, or by a Zipf law when zipf is 1 (pgbench -D zipf=1
-- -D s=2.0, the exponent); accounts 1 .. :accounts (pgbench -D accounts=10000), the two of a transfer different.
\set amount random(1, 100)
\if :zipf
\set from random_zipfian(1, :accounts, :s)
\set to random_zipfian(1, :accounts, :s)
\else
\set from random(1, :accounts)
\set to random(1, :accounts)
\endif
\if :from = :to
\set to :from % :accounts + 1
\endif
\set low least(:from, :to)
\set high greatest(:from, :to)
\set low_change CASE WHEN :low = :from THEN -:amount ELSE :amount END
BEGIN;
UPDATE bench_accounts SET balance = balance + :low_change WHERE id = :low;
UPDATE bench_accounts SET balance = balance - :low_change WHERE id = :high;
WITH transfer AS (
    INSERT INTO bench_transfers (debit_account, credit_account, amount) VALUES (:from, :to, :amount) RETURNING id
)
INSERT INTO bench_entries (transfer_id, account_id, amount)
SELECT id, :from, -:amount FROM transfer UNION ALL SELECT id, :to, :amount FROM transfer;
END;
