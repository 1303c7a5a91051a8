-- wrk script: POST /amount with a new Transaction-Id every request, over the benchmark's 10,000 accounts.
-- Ids come from a random per-thread prefix and a counter, so they never collide with the fill or another run.
-- Account 0 is left alone, so that the fill's count for it can still be checked exactly afterwards.
dofile("common.lua")

function init(args)
    prefix = unique_prefix("b")
    counter = 0
end

function request()
    counter = counter + 1
    return post_request(string.format("%s-4000-8000-%012x", prefix, counter), 1 + counter % (ACCOUNTS - 1), counter % 201 - 100)
end
