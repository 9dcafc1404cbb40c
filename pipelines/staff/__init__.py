"""What teaching staff do with grades once they are graded: the late policy and the exports to LMSs.

Apart from ``pipelines.report`` because these read more than results (the submission folder's
``timestamp.txt``, the units' configuration); like the reports, they never change a cached grade
(``pipelines.grade.fingerprint.NOT_GRADING``): the late policy is applied to every batch's results
after the cache, and the exports read what the batch wrote.
"""
