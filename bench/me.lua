-- wrk script: GET /api/v1/me with the API key from the KEY environment variable.
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
