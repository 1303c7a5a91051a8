-- What every benchmark script shares (loaded with dofile; wrk runs with scripts/wrk as its working directory).
-- Accounts 0..9999 and fill transactions 0..n-1 map to fixed UUIDs, so the fill can be read back; 1% of
-- transactions go to account 0, so that one account has the most and max volume has one winner.
ACCOUNTS = 10000

function account_id(n)
    return string.format("acc00000-0000-4000-8000-%012x", n)
end

function fill_transaction_id(n)
    return string.format("7a000000-0000-4000-8000-%012x", n)
end

function fill_account(n)
    if n % 100 == 0 then return 0 end
    return 1 + n % (ACCOUNTS - 1)
end

-- `extra`, when given, is more members for the body (`"metadata":{…}`).
function post_request(id, account, amount, extra)
    local members = string.format('"account_id":"%s","amount":%d', account_id(account), amount)
    if extra then members = members .. "," .. extra end
    return wrk.format("POST", "/amount", { ["Content-Type"] = "application/json", ["Transaction-Id"] = id },
        "{" .. members .. "}")
end

-- One item of a POST /transactions batch: a posting of `amount` to account number `account`.
function batch_item(id, account, amount)
    return string.format('{"transaction_id":"%s","account_id":"%s","amount":%d}', id, account_id(account), amount)
end

-- POST /transactions of `items` (batch_item's), marked balanced when asked.
function batch_request(items, balanced)
    local body = '{"transactions":[' .. table.concat(items, ",") .. ']' .. (balanced and ',"balanced":true}' or '}')
    return wrk.format("POST", "/transactions", { ["Content-Type"] = "application/json" }, body)
end

-- Four metadata members, as a payment might carry.
FOUR_MEMBERS = '"metadata":{"order":"o-2026-000123","channel":"web","customer":"c-0042","note":"bench"}'

-- The settings scripts/wrk/put_accounts.lua gives account n in each mode.
function account_settings(mode, n)
    if mode == "limits" then
        return '{"minimum_balance":-1000000000000,"maximum_balance":1000000000000}'
    end
    return string.format('{"metadata":{"tier":"t%d","n":"%d"}}', n % 10, n)
end

-- Numbers the threads: each one's thread_index (0, 1, ...) is set before its init().
local threads = {}

function setup(thread)
    thread:set("thread_index", #threads)
    table.insert(threads, thread)
end

-- A prefix for new Transaction-Ids that no other thread, run or fill uses: a letter, random digits, the thread.
function unique_prefix(letter)
    math.randomseed(os.time() * 100 + thread_index)
    return string.format("%s%07x-%04x", letter, math.random(0, 0xfffffff), thread_index)
end

-- Requests formatted once, in init(), and sent in turn, so that the client spends as little per request as on
-- wrk's own static request (it shares the machine's cores with the server). A script that fills `requests`
-- needs no request() of its own; the others define theirs, which replaces this one. It is defined here, when
-- the script loads, because that is when wrk looks for it to tell a dynamic script.
requests = {}
local sent = 0

function request()
    sent = sent % #requests + 1
    return requests[sent]
end

-- Numbered requests sent once each, until every one is answered (fill.lua, put_accounts.lua): thread t sends the
-- numbers n from first to first+count-1 with n % threads == t, made by make(n); once all of them are answered it
-- stops and writes done-directory/t (wrk itself runs until its duration or SIGINT, so scripts/bench interrupts it
-- when every thread is done). While its last requests are in flight a thread sends GET /ping, whose empty body
-- tells its response from the others'. Call it from init(args) with the arguments first, count, threads and
-- done-directory; `accepts(status)` says which statuses are expected (others are reported on stderr).
function numbered_requests(args, name, make, accepts)
    local first, count, thread_count = tonumber(args[1]), tonumber(args[2]), tonumber(args[3])
    local done_file = args[4] .. "/" .. thread_index
    local next_n, last, step = first + thread_index, first + count, thread_count
    local mine, answered = 0, 0
    for n = next_n, last - 1, step do mine = mine + 1 end
    local function finish()
        local file = io.open(done_file, "w")
        file:close()
        wrk.thread:stop()
    end
    if mine == 0 then finish() end
    request = function()
        -- wrk calls request() once on thread 0 to check the script before the run; that request is never sent.
        if thread_index == 0 and not checked then
            checked = true
            return wrk.format("GET", "/ping")
        end
        if next_n < last then
            local n = next_n
            next_n = next_n + step
            return make(n)
        end
        return wrk.format("GET", "/ping")
    end
    response = function(status, headers, body)
        if not accepts(status) then
            io.stderr:write(name .. ": status " .. status .. " " .. body .. "\n")
        end
        if body ~= "" then
            answered = answered + 1
            if answered == mine then finish() end
        end
    end
end
