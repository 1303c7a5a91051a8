-- wrk script: GET /balance of the 10,000 accounts that post_amount.lua writes, in turn.
local counter = 0

function request()
    counter = counter + 1
    return wrk.format("GET", string.format("/balance/00000000-0000-4000-8000-%012x", counter % 10000))
end

