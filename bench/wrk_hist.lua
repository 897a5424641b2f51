-- Included by the wrk scripts of the benchmarks: done() writes wrk's latency histogram
-- ("microseconds count" lines) to $WRK_HIST, so that the slices of a configuration can be
-- merged into exact percentiles.
done = function(summary, latency, requests)
  local f = assert(io.open(os.getenv("WRK_HIST"), "w"))
  for i = 1, #latency do
    local value, count = latency(i)
    f:write(string.format("%d %d\n", value, count))
  end
  f:close()
end
