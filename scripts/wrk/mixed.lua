-- wrk script: a mixed load over a filled database (argument: how many fill transactions it holds).
-- Of every 20 requests: 12 GET /balance, 4 POST /amount (new ids), 3 GET /transaction, 1 GET /max_transaction_volume.
dofile("ids.lua")
local threads = {}

function setup(thread)
    thread:set("thread_index", #threads)
    table.insert(threads, thread)
end

function init(args)
    filled = tonumber(args[1])
    math.randomseed(os.time() * 100 + thread_index)
    prefix = string.format("c%07x-%04x", math.random(0, 0xfffffff), thread_index)
    counter = 0
end

function request()
    counter = counter + 1
    local slot = counter % 20
    if slot < 12 then
        return wrk.format("GET", "/balance/" .. account_id(counter % ACCOUNTS))
    elseif slot < 16 then
        return post_request(string.format("%s-4000-8000-%012x", prefix, counter), 1 + counter % (ACCOUNTS - 1), counter % 201 - 100)
    elseif slot < 19 then
        return wrk.format("GET", "/transaction/" .. fill_transaction_id(math.random(0, filled - 1)))
    end
    return wrk.format("GET", "/max_transaction_volume")
end
