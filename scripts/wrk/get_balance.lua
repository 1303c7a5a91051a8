-- wrk script: GET /balance of the benchmark's 10,000 accounts in turn.
dofile("common.lua")
local next_request

function init(args)
    local requests = {}
    for n = 0, ACCOUNTS - 1 do
        requests[n + 1] = wrk.format("GET", "/balance/" .. account_id(n))
    end
    next_request = cycling(requests)
end

-- Defined here, not in init(): wrk looks for a request function when it loads the script.
function request()
    return next_request()
end
