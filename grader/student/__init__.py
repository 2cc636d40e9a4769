"""The student's side: the release bundle they were given (which grader made it) and the
self-check from inside their notebook (`grader.check("2a")`), sharing the feedback text with
`grader check`."""
