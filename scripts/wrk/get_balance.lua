-- wrk script: GET /balance of the 10,000 accounts that post_amount.lua writes, in turn.
-- The requests are formatted once per thread, so the client spends as little CPU per request as it does for
-- wrk's own static request (the server shares the machine's cores with wrk).
local requests = {}
local counter = 0

function init(args)
    for n = 0, 9999 do
        requests[n + 1] = wrk.format("GET", string.format("/balance/00000000-0000-4000-8000-%012x", n))
    end
end

function request()
    counter = counter % #requests + 1
    return requests[counter]
end
