-- wrk script: balanced 2-item batches numbered first .. first+count-1, each sent exactly once, in one of three
-- modes: "transfer" (two ordinary postings), "hold" (the same as a pending batch, with an optional timeout in
-- seconds), or "resolve" (a balanced post of both holds that "hold" made with the same number). Batch n moves
-- n % 100 + 1 from one account to the next, over the benchmark's 10,000 accounts (account 0 left alone).
-- Arguments: mode first count threads done-directory [timeout] (see numbered_requests in common.lua).
dofile("common.lua")

local kinds = { transfer = "7e000000", hold = "401d0000", resolve = "5e500000" }

local function id(kind, n)
    return string.format("%s-0000-4000-8000-%012x", kinds[kind], n)
end

function init(args)
    local mode, timeout = args[1], args[6]
    local headers = { ["Content-Type"] = "application/json" }
    numbered_requests({ args[2], args[3], args[4], args[5] }, "holds " .. mode,
        function(n)
            local body
            if mode == "resolve" then
                body = string.format(
                    '{"balanced":true,"transactions":[{"transaction_id":"%s","pending_id":"%s","action":"post"},'
                        .. '{"transaction_id":"%s","pending_id":"%s","action":"post"}]}',
                    id("resolve", 2 * n), id("hold", 2 * n), id("resolve", 2 * n + 1), id("hold", 2 * n + 1))
            else
                local kind = mode == "hold" and "hold" or "transfer"
                local from = 1 + (n * 7919) % (ACCOUNTS - 1)
                local to = 1 + from % (ACCOUNTS - 1)
                local amount = n % 100 + 1
                local pending = ""
                if mode == "hold" then
                    pending = ',"pending":true' .. (timeout and (',"timeout":' .. timeout) or "")
                end
                body = string.format(
                    '{"balanced":true%s,"transactions":[{"transaction_id":"%s","account_id":"%s","amount":%d},'
                        .. '{"transaction_id":"%s","account_id":"%s","amount":%d}]}',
                    pending, id(kind, 2 * n), account_id(from), -amount, id(kind, 2 * n + 1), account_id(to), amount)
            end
            return wrk.format("POST", "/transactions", headers, body)
        end,
        function(status) return status == 200 end)
end

-- Replaced in init (numbered_requests); defined here so that wrk sees a script with its own request and response.
function request() return wrk.format("GET", "/ping") end
function response(status, headers, body) end
