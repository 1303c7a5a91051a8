-- The tables scripts/pgbench/row-locking-transfer.sql writes: accounts with a balance, transfers, and their
-- entries, indexed as such a ledger would be (entries by account, for its statements).
DROP TABLE IF EXISTS bench_entries, bench_transfers, bench_accounts;
CREATE TABLE bench_accounts (id integer PRIMARY KEY, balance bigint NOT NULL DEFAULT 0);
INSERT INTO bench_accounts (id) SELECT generate_series(1, 10000);
CREATE TABLE bench_transfers (
    id bigserial PRIMARY KEY,
    debit_account integer NOT NULL REFERENCES bench_accounts,
    credit_account integer NOT NULL REFERENCES bench_accounts,
    amount bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE bench_entries (
    id bigserial PRIMARY KEY,
    transfer_id bigint NOT NULL REFERENCES bench_transfers,
    account_id integer NOT NULL REFERENCES bench_accounts,
    amount bigint NOT NULL
);
CREATE INDEX bench_entries_account ON bench_entries (account_id, id);
VACUUM ANALYZE bench_accounts;
