-- wrk script: statement pages of 100 of the hot account (account 0, 1% of all transactions), at depths spread
-- over the newer half of the history, so that every page is full at any database size: an index range read.
-- Argument: the number of transactions in the database.
dofile("common.lua")

function init(args)
    local filled = tonumber(args[1])
    for n = 0, 99 do
        local before = math.floor(filled / 2 + n * filled / 200) + 1
        requests[n + 1] = wrk.format("GET", string.format("/accounts/%s/transactions?limit=100&before=%d",
            account_id(0), before))
    end
end
