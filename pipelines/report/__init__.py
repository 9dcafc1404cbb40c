"""What graders and students read: grades.csv, results.json, feedback.html, the class report, and the staff's similarity page."""
