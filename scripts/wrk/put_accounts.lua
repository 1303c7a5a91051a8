-- wrk script: PUT /accounts/{id} for accounts first .. first+count-1 exactly once, with the settings of `mode`
-- (common.lua's account_settings: "limits", or "metadata": {"tier": "t<n % 10>", "n": "<n>"}).
-- Arguments: first count threads done-directory mode (see numbered_requests in common.lua).
dofile("common.lua")

function init(args)
    local mode = args[5]
    numbered_requests(args, "put_accounts",
        function(n)
            return wrk.format("PUT", "/accounts/" .. account_id(n), { ["Content-Type"] = "application/json" },
                account_settings(mode, n))
        end,
        function(status) return status == 200 or status == 201 end)
end

-- Replaced in init (numbered_requests); defined here so that wrk sees a script with its own request and response.
function request() return wrk.format("GET", "/ping") end
function response(status, headers, body) end
