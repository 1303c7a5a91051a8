-- wrk script: GET /balance of the benchmark's 10,000 accounts in turn. Requests are formatted once, so the
-- client spends as little per request as on wrk's own static request (it shares the machine's cores).
dofile("ids.lua")
local requests = {}
local counter = 0

function init(args)
    for n = 0, ACCOUNTS - 1 do
        requests[n + 1] = wrk.format("GET", "/balance/" .. account_id(n))
    end
end

function request()
    counter = counter % #requests + 1
    return requests[counter]
end
