"""What graders and students read: grades.csv, results.json, feedback.html and the class report."""
