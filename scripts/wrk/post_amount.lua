-- wrk script: POST /amount with a unique Transaction-Id per request, over 10,000 accounts.
-- Ids are version-4-shaped UUIDs built from a per-run random prefix, the thread number and a counter,
-- so repeated runs against one database never collide.
local threads = {}
local run = math.random(0, 0xffff)

function setup(thread)
    thread:set("thread_number", #threads + 1)
    table.insert(threads, thread)
end

function init(args)
    math.randomseed(os.time() + thread_number)
    run = math.random(0, 0xffff)
    counter = 0
end

local function account_id(n)
    return string.format("00000000-0000-4000-8000-%012x", n)
end

function request()
    counter = counter + 1
    local id = string.format("%08x-%04x-4000-8000-%012x", run, thread_number, counter)
    local body = string.format('{"account_id":"%s","amount":%d}', account_id(counter % 10000), (counter % 201) - 100)
    return wrk.format("POST", "/amount",
        { ["Content-Type"] = "application/json", ["Transaction-Id"] = id }, body)
end

