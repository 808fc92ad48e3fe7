"""ExamsTutor."""
