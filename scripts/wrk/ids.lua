-- The identifiers every benchmark script agrees on (loaded with dofile; wrk runs with scripts/wrk as its
-- working directory). Accounts 0..9999 and fill transactions 0..n-1 map to fixed UUIDs, so the fill can be
-- read back; the fill sends 1% of its transactions to account 0, so one account has the most transactions.
ACCOUNTS = 10000

function account_id(n)
    return string.format("acc00000-0000-4000-8000-%012x", n)
end

function fill_transaction_id(n)
    return string.format("7a000000-0000-4000-8000-%012x", n)
end

function fill_account(n)
    if n % 100 == 0 then return 0 end
    return 1 + n % (ACCOUNTS - 1)
end

function post_request(id, account, amount)
    return wrk.format("POST", "/amount", { ["Content-Type"] = "application/json", ["Transaction-Id"] = id },
        string.format('{"account_id":"%s","amount":%d}', account_id(account), amount))
end
