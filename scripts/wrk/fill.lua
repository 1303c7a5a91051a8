-- wrk script: posts fill transactions first .. first+count-1 exactly once.
-- Arguments: first count threads done-directory. Thread t posts the numbers n with n % threads == t; once all
-- of them are acknowledged it stops and writes done-directory/t (wrk itself runs until its duration or SIGINT,
-- so scripts/bench interrupts it when every thread is done). While its last POSTs are in flight a thread sends
-- GET /ping, whose empty body tells its response from a POST's.
dofile("common.lua")

function init(args)
    local first, count, thread_count = tonumber(args[1]), tonumber(args[2]), tonumber(args[3])
    done_file = args[4] .. "/" .. thread_index
    next_n = first + thread_index
    last = first + count
    step = thread_count
    mine = 0
    for n = next_n, last - 1, step do mine = mine + 1 end
    acknowledged = 0
    if mine == 0 then finish() end
end

function finish()
    local file = io.open(done_file, "w")
    file:close()
    wrk.thread:stop()
end

function request()
    -- wrk calls request() once on thread 0 to check the script before the run; that request is never sent.
    if thread_index == 0 and not checked then
        checked = true
        return wrk.format("GET", "/ping")
    end
    if next_n < last then
        local n = next_n
        next_n = next_n + step
        return post_request(fill_transaction_id(n), fill_account(n), n % 201 - 100)
    end
    return wrk.format("GET", "/ping")
end

function response(status, headers, body)
    if status ~= 200 then
        io.stderr:write("fill: status " .. status .. " " .. body .. "\n")
    end
    if body ~= "" then
        acknowledged = acknowledged + 1
        if acknowledged == mine then finish() end
    end
end
