"""What graders and students read: grades.csv, results.json, feedback.html and the class report."""

# What ``deepgrade export`` writes (pipelines.report.exports); here so the command line names them
# without importing the exports.
EXPORT_FORMATS = ("gradescope", "canvas", "moodle", "nbgrader")
