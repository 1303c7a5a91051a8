-- wrk script: postings whose accounts are drawn from a law, for the hot-account figures of scripts/bench.
-- Arguments: what ("transfer": a balanced 2-item POST /transactions moving an amount from one account to another;
-- "amount": POST /amount), the law ("uniform", "zipf:S" with exponent S such as 1.1 or 2.0, or "single": every
-- request on one account; a transfer then moves money between it and an account drawn uniformly), and how many
-- accounts (default 10,000). Under a Zipf law the account of rank k is drawn with weight 1/k^S: with S = 2.0 the
-- first takes 61% of the draws, the first ten 94%. A transfer's two accounts differ. Ids come from a random
-- per-thread prefix and a counter, as in post_amount.lua. The accounts are the benchmark's numbered ones (it runs
-- on a fresh database).
dofile("common.lua")

function init(args)
    prefix = unique_prefix("d")
    counter = 0
    what = args[1] or "transfer"
    law = args[2] or "uniform"
    count = tonumber(args[3] or "10000")
    math.randomseed(os.time() * 1000 + thread_index * 7 + 1)
    if law:sub(1, 5) == "zipf:" then
        -- The cumulative weights, once: a draw is a binary search for a uniform number among them.
        local exponent = tonumber(law:sub(6))
        cumulative = {}
        local total = 0
        for k = 1, count do
            total = total + 1 / k ^ exponent
            cumulative[k] = total
        end
        for k = 1, count do cumulative[k] = cumulative[k] / total end
    end
end

-- An account number 1 .. count drawn from the law.
local function draw()
    if cumulative then
        local u = math.random()
        local low, high = 1, count
        while low < high do
            local middle = math.floor((low + high) / 2)
            if cumulative[middle] < u then low = middle + 1 else high = middle end
        end
        return low
    end
    if law == "single" then return 1 end
    return math.random(1, count)
end

function request()
    counter = counter + 1
    local amount = counter % 100 + 1
    if what == "amount" then
        -- Alternating signs keep a single account's balance near zero.
        if counter % 2 == 0 then amount = -amount end
        return post_request(string.format("%s-4000-8000-%012x", prefix, counter), draw(), amount)
    end
    local from = draw()
    local to = law == "single" and math.random(2, count) or draw()
    while to == from do to = draw() end
    return batch_request({
        batch_item(string.format("%s-4000-8000-%012x", prefix, 2 * counter), from, -amount),
        batch_item(string.format("%s-4000-8000-%012x", prefix, 2 * counter + 1), to, amount),
    }, true)
end

function response(status, headers, body)
    if status ~= 200 then
        io.stderr:write("hot: status " .. status .. " " .. body:sub(1, 300) .. "\n")
    end
end
