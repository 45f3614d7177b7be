"""The Sigma rule pack as package data: rules, correlations, pipelines, example events, ATLAS, validation.

No code lives here; the folder is a package so the wheel carries it and `importlib.resources` finds it
(`mlsiem.paths.package_folder("sigma_rules")`), installed or in a checkout alike.
"""
