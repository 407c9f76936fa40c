"""The template test suite's harness: everything the tests and the benchmark share.

Test modules import it as the top-level package `harness` (pytest puts tests/ on sys.path;
tests/bench does the same), and its modules import each other relatively. Lower layers first:

- `availability`: skip on a developer machine, fail in CI, when a service or interpreter is
  missing.
- `interpreters`: Python interpreters on PATH or under pyenv.
- `processes`: commands run by the tests, their environment, failures with the output's tail.
- `package_index`: whether the package index serves what Poetry asks of it.
- `files`: a rendered project's files, text, YAML documents and .env files.
- `template`: the template repository's root, copier.yml, its extensions as modules.
- `matrix`: the named variants, the pairwise matrix and the stack variants.
- `rendering`: the variants' answers, copier's outcome, copier's CLI refusing answers.
- `render_checks`: the render tier's conventions as checks of one rendered project.
- `dependencies`: a project's declared, pinned and locked versions, and the tested ones.
- `project_checks`: a generated project's own checks (install, ruff, mypy, migrations, tests).
- `compose`: a compose file as data (interpolation, dependencies, environments, ports).
- `dockerfile`: what a Dockerfile's final stage puts in the image and what a service runs.
- `machine`: this machine's servers standing in for image services, free ports, Redis slots.
- `provisioning`: databases and RabbitMQ vhosts created and dropped on those servers.
- `native_stack`: a compose stack's built services run as processes on this machine.
- `deployment`: what a deployment does to a project before its stack starts.
- `smoke`: the HTTP and task smoke client run against a stack, native or in Docker.
"""
