-- wrk script: PUT /accounts/{id} for accounts first .. first+count-1 exactly once, with the settings of `mode`
-- (common.lua's account_settings: "limits", or "metadata": {"tier": "t<n % 10>", "n": "<n>"}).
-- Arguments: first count threads done-directory mode. As fill.lua: thread t opens the numbers n with
-- n % threads == t, and writes done-directory/t once all of them are answered.
dofile("common.lua")

function init(args)
    local first, count, thread_count = tonumber(args[1]), tonumber(args[2]), tonumber(args[3])
    done_file = args[4] .. "/" .. thread_index
    mode = args[5]
    next_n = first + thread_index
    last = first + count
    step = thread_count
    mine = 0
    for n = next_n, last - 1, step do mine = mine + 1 end
    answered = 0
    if mine == 0 then finish() end
end

function finish()
    local file = io.open(done_file, "w")
    file:close()
    wrk.thread:stop()
end

function request()
    if thread_index == 0 and not checked then
        checked = true
        return wrk.format("GET", "/ping")
    end
    if next_n < last then
        local n = next_n
        next_n = next_n + step
        return wrk.format("PUT", "/accounts/" .. account_id(n), { ["Content-Type"] = "application/json" },
            account_settings(mode, n))
    end
    return wrk.format("GET", "/ping")
end

function response(status, headers, body)
    if status ~= 200 and status ~= 201 then
        io.stderr:write("put_accounts: status " .. status .. " " .. body .. "\n")
    end
    if body ~= "" then
        answered = answered + 1
        if answered == mine then finish() end
    end
end
