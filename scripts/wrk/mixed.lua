-- wrk script: a mixed load over a filled database (argument: how many fill transactions it holds).
-- Of every 20 requests: 12 GET /balance, 4 POST /amount (new ids), 3 GET /transaction, 1 GET /max_transaction_volume.
dofile("common.lua")

function init(args)
    filled = tonumber(args[1])
    prefix = unique_prefix("c")
    counter = 0
    posts = 0
end

function request()
    counter = counter + 1
    local slot = counter % 20
    if slot < 12 then
        return wrk.format("GET", "/balance/" .. account_id(counter % ACCOUNTS))
    elseif slot < 16 then
        -- The fill's spread of accounts, 1% to account 0, keeps max volume at one account however long it runs.
        -- It counts POSTs alone: counter itself is never a multiple of 100 on a POST slot.
        posts = posts + 1
        return post_request(string.format("%s-4000-8000-%012x", prefix, posts), fill_account(posts), posts % 201 - 100)
    elseif slot < 19 then
        return wrk.format("GET", "/transaction/" .. fill_transaction_id(math.random(0, filled - 1)))
    end
    return wrk.format("GET", "/max_transaction_volume")
end
