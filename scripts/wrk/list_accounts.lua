-- wrk script: GET /accounts?metadata.tier=t3&limit=100&after=ID, pages of the accounts holding one member
-- (a tenth of those scripts/wrk/put_accounts.lua gave metadata), starting at ids spread over them.
-- Argument: how many accounts have metadata (numbered from 0).
dofile("common.lua")

function init(args)
    local count = tonumber(args[1])
    for n = 0, 99 do
        -- Over the first 80%: every page is full (a fifth of the accounts holds at least 200 of tier t3).
        local after = math.floor(n * count * 0.8 / 100)
        requests[n + 1] = wrk.format("GET", "/accounts?metadata.tier=t3&limit=100&after=" .. account_id(after))
    end
end
