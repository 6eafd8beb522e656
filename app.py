#!/usr/bin/env python3
"""CDK entry point: read the config from cdk.json context, build the stacks, synthesize. Nothing else."""

import aws_cdk as cdk

from stacks.assembly import build
from stacks.config import InfraConfig

app = cdk.App()
build(app, InfraConfig.from_context(app.node.try_get_context))
app.synth()
