-- wrk script: POST /transactions with batches of new transactions over the benchmark's 10,000 accounts.
-- Arguments: items per batch, and "balanced" for transfers (each pair of items moves an amount from one account
-- to another, the batch summing to zero). Ids come from a random per-thread prefix and a counter, as in
-- post_amount.lua; account 0 is left alone.
dofile("common.lua")

function init(args)
    prefix = unique_prefix("c")
    counter = 0
    size = tonumber(args[1] or "1000")
    balanced = args[2] == "balanced"
end

function request()
    local items = {}
    for i = 1, size do
        counter = counter + 1
        local amount = counter % 201 - 100
        if balanced then amount = (i % 2 == 1) and -(counter % 100 + 1) or ((counter - 1) % 100 + 1) end
        items[i] = batch_item(string.format("%s-4000-8000-%012x", prefix, counter),
            1 + (counter * 7919) % (ACCOUNTS - 1), amount)
    end
    return batch_request(items, balanced)
end

function response(status, headers, body)
    if status ~= 200 then
        io.stderr:write("post_batch: status " .. status .. " " .. body:sub(1, 300) .. "\n")
    end
end
