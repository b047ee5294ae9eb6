-- wrk script: a metered, streamed chat completion with the API key from the KEY environment
-- variable. (The fake upstream answers with a plain completion, which the server relays as a
-- stream: the relay, its settlement and the SSE framing are all on the path.)
wrk.method = "POST"
wrk.body = '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello."}],"max_tokens":64}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
