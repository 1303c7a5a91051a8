-- wrk script: posts fill transactions first .. first+count-1 exactly once.
-- Arguments: first count threads done-directory (see numbered_requests in common.lua).
dofile("common.lua")

function init(args)
    numbered_requests(args, "fill",
        function(n) return post_request(fill_transaction_id(n), fill_account(n), n % 201 - 100) end,
        function(status) return status == 200 end)
end

-- Replaced in init (numbered_requests); defined here so that wrk sees a script with its own request and response.
function request() return wrk.format("GET", "/ping") end
function response(status, headers, body) end
