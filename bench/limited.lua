-- wrk script: a metered chat completion with the key of an organisation on a 1-per-minute plan,
-- so that nearly every request takes the 429 path.
wrk.method = "POST"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello."}],"max_tokens":64}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("LIMITED_KEY")
