-- wrk script: POST /amount with a new Transaction-Id every request, over 9,999 accounts.
-- Ids come from a random per-thread prefix and a counter, so they never collide with the fill or another run.
-- Arguments (optional): the first account (default 1: account 0 is left alone, so that the fill's count for it
-- can still be checked exactly afterwards), and "metadata" to send four metadata members with each posting.
dofile("common.lua")

function init(args)
    prefix = unique_prefix("b")
    counter = 0
    first = tonumber(args[1] or "1")
    extra = args[2] == "metadata" and FOUR_MEMBERS or nil
end

function request()
    counter = counter + 1
    return post_request(string.format("%s-4000-8000-%012x", prefix, counter), first + counter % (ACCOUNTS - 1),
        counter % 201 - 100, extra)
end
