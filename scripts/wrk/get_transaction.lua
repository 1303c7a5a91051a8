-- wrk script: GET /transaction of 10,000 fill transactions spread over the whole fill (argument: its size).
dofile("common.lua")

function init(args)
    local filled = tonumber(args[1])
    math.randomseed(filled)
    for i = 1, 10000 do
        requests[i] = wrk.format("GET", "/transaction/" .. fill_transaction_id(math.random(0, filled - 1)))
    end
end
