-- wrk script: GET /accounts/{id}, the account document, of the benchmark's 10,000 accounts in turn.
dofile("common.lua")

function init(args)
    for n = 0, ACCOUNTS - 1 do
        requests[n + 1] = wrk.format("GET", "/accounts/" .. account_id(n))
    end
end
