"""Pure builders: config + names + facts in, plain dicts and strings out. No AWS calls.

  policies.py   IAM trust and inline policies, the S3 bucket policy, lifecycle rules
  buildspec.py  the generated CodeBuild buildspec
  project.py    the CodeBuild CreateProject/UpdateProject request
  pipeline.py   the CodePipeline V2 declaration (Source -> Build -> Deploy + trigger)
"""
