"""Command line: ``python -m galaxy_lib <verb>`` (console script ``galaxy-lib``).

Each verb is a thin wrapper over one library call, imported lazily so that ``--help`` and
data checks do not pay for importing TensorFlow. Exit statuses: 0 done; 2 a problem in the
user's input (a :class:`~galaxy_lib.errors.GalaxyLibError`, printed as one ``error:`` line, or a
bad argument caught by argparse; also another process busy in the same folder, or a full or
read-only disk); 1 a bug in this package (any other exception, raised with its full traceback so
that CI and bug reports show where it happened); 130 interrupted.

Ensembles (:mod:`galaxy_lib.model.ensemble`) use the same verbs: ``train -f`` and ``report -f``
recognise an ensemble parameters file by its ``members`` key (``--out`` is then the ensemble
folder, and ``--set``/``--data`` apply to every member); ``predict`` and ``evaluate`` take an
ensemble folder, or several run folders to average (``evaluate`` then writes into ``--out``).
``curve`` (:mod:`galaxy_lib.studies.curve`) trains one configuration on nested subsets of the
training galaxies into a curve folder of ordinary run folders. A learning-curve file
(:mod:`galaxy_lib.studies.curve_file`, recognised by its ``sizes`` key) holds those settings:
``curve -f FILE`` trains its curves and ``report -f FILE`` renders the learning-curve report.
``compare RUN RUN ... --name NAME`` (:mod:`galaxy_lib.report.compare`) renders a report comparing
finished runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line imports the package lazily, so that --help and errors come at once
    from galaxy_lib.parameters_file import ParametersFile


def _check_data(args: argparse.Namespace) -> int:
    from galaxy_lib.data import dataset

    summary = dataset.check_data(
        args.path,
        tree_tolerance=args.tolerance,
        skip_bad_images=args.skip_bad_images,
        resize_bad_size=args.resize_bad_size,
        full_decode=args.full_decode,
    )
    print(summary)
    return 0


_SYNTH_DEFAULTS = {"n": 2000, "test_n": 0, "seed": 0}  # None in the parser: -f refuses a flag that was given


def _synth(args: argparse.Namespace) -> int:
    """A synthetic sky: the one ``--out`` names, or with ``-f`` the ones a parameters file reads (the only
    way besides ``report`` and the notebooks' set-up that a configuration's sky is made: loading reads)."""
    from galaxy_lib.errors import ConfigError
    from galaxy_lib.paths import resolve_path
    from galaxy_lib.synth import sky

    if args.file:
        given = [f"--{name.replace('_', '-')}" for name in ("out", *_SYNTH_DEFAULTS, "overwrite", "zip")
                 if getattr(args, name) not in (None, False)]
        if given:
            raise ConfigError(f"-f makes the synthetic skies the parameters file names, with its keys; "
                              f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for a sky without one "
                              "(change the file's keys with --set KEY=VALUE)")
        return _synth_file(args)
    if not args.out:
        raise ConfigError("--out FOLDER is required, or -f a parameters file whose synthetic sky to make")
    values = {name: _SYNTH_DEFAULTS[name] if getattr(args, name) is None else getattr(args, name)
              for name in _SYNTH_DEFAULTS}
    sky.generate(resolve_path(args.out), n=values["n"], seed=values["seed"], n_test=values["test_n"],
                 overwrite=args.overwrite, zip=args.zip)
    return 0


def _synth_file(args: argparse.Namespace) -> int:
    """``synth -f FILE``: every synthetic sky of the file (a run's, each ensemble member's, a learning
    curve's main and validation curves'), generated when missing, kept when there."""
    from galaxy_lib.errors import ConfigError
    from galaxy_lib.paths import display_path
    from galaxy_lib.report.build import data_configs
    from galaxy_lib.synth import sky

    configs = [config for config in data_configs(_config_from(args)) if config.synthetic]
    if not configs:
        raise ConfigError(f"-f {args.file}: names no synthetic sky (config key 'synthetic' is false): its data is "
                          "read as it is")
    roots = [sky.ensure_synthetic(config) for config in configs]
    for root in dict.fromkeys(roots):  # an ensemble's members share theirs: said once
        print(f"synthetic sky {display_path(root)} is ready")
    return 0


def _sample(args: argparse.Namespace) -> int:
    """The students' sample from Kaggle's zips; with ``--key`` also the instructor's key
    (:mod:`galaxy_lib.classroom.key`), or with ``--synthetic`` only a key of the synthetic sky."""
    from galaxy_lib.data import sample
    from galaxy_lib.errors import ConfigError
    from galaxy_lib.paths import display_path, resolve_path

    keyed = [flag for flag, value in (("--key-n", args.key_n), ("--key-seed", args.key_seed)) if value is not None]
    if keyed and not args.key:
        raise ConfigError(f"{' and '.join(keyed)} set aside the instructor's key: name its folder with --key FOLDER")
    if args.synthetic:
        given = [flag for flag, value in (("--kaggle", args.kaggle), ("--out", args.out),
                                          ("--manifest", args.manifest)) if value is not None]
        if given:
            raise ConfigError(f"--synthetic sets a key aside from the synthetic sky the students generate (-f); "
                              f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for Kaggle's download")
        if not args.key:
            raise ConfigError("--synthetic writes only the instructor's key (the students generate their sky "
                              "themselves): name its folder with --key FOLDER")
    elif args.file:
        raise ConfigError("-f names the students' synthetic configuration: it goes with --synthetic --key FOLDER")
    elif not args.kaggle:
        raise ConfigError("--kaggle FOLDER is required (the folder holding Kaggle's zips), or --synthetic --key "
                          "FOLDER for a key of the synthetic sky")
    key_options = {"n": args.key_n, "seed": args.key_seed}
    key_options = {name: value for name, value in key_options.items() if value is not None}
    if args.synthetic:
        from galaxy_lib.classroom import key
        from galaxy_lib.config import load_config

        students_file = args.file or str(key.DEFAULT_STUDENTS)
        students = load_config(resolve_path(students_file))
        folder = key.hold_out_synthetic(resolve_path(args.key), students=students, progress=True, **key_options)
        print(f"built {display_path(folder)}: {key.read_key(folder).info['galaxies']:,} held-back synthetic galaxies "
              f"(the instructor's key), none of them in the students' sky ({students_file}: seed "
              f"{students.synthetic_seed}, {students.synthetic_n:,} galaxies)")
        return 0
    out_arg = resolve_path(args.out or sample.LOCAL)
    manifest = args.manifest or sample.MANIFEST
    if not args.key:
        out = sample.build(resolve_path(args.kaggle), out_arg, manifest)
        print(f"built {display_path(out)}: {len(sample.read_manifest(out / 'manifest.csv')):,} galaxies, "
              "checked against the manifest")
        return 0
    from galaxy_lib.classroom import key

    kept = out_arg.exists()
    out, folder = key.hold_out_kaggle(resolve_path(args.kaggle), out_arg, resolve_path(args.key),
                                      manifest=manifest, **key_options)
    count = len(sample.read_manifest(manifest))
    print(f"{'kept' if kept else 'built'} {display_path(out)}: {count:,} galaxies (the students' sample"
          f"{', built before' if kept else ''}), checked against the manifest and the key")
    print(f"built {display_path(folder)}: {key.read_key(folder).info['galaxies']:,} held-back galaxies (the "
          f"instructor's key), none of them in {display_path(out)}")
    return 0


def _config_from(args: argparse.Namespace, file: ParametersFile | None = None):
    """The parameters file with ``--set``/``--data``: a ``Config``, an ``EnsembleConfig`` for an
    ensemble file, or a ``CurveConfig`` for a learning-curve file. ``file``: ``args.file`` already
    read (:func:`galaxy_lib.parameters_file.read`), else it is read here, once."""
    from galaxy_lib.config import parse_overrides
    from galaxy_lib.model.ensemble import load_parameters
    from galaxy_lib.parameters_file import CURVE, read
    from galaxy_lib.studies.curve_file import load_curve_file

    overrides = parse_overrides(args.set or [])
    if getattr(args, "data", None):
        overrides["data"] = args.data
    if file is None and args.file:
        file = read(args.file)
    if file is not None and file.kind == CURVE:
        return load_curve_file(file, overrides)
    return load_parameters(file, overrides)


def _train(args: argparse.Namespace) -> int:
    config = _config_from(args)  # before TensorFlow loads: a bad key is reported in a moment
    from galaxy_lib.errors import ConfigError
    from galaxy_lib.model.ensemble import EnsembleConfig, train_ensemble
    from galaxy_lib.studies.curve_file import CurveConfig

    if isinstance(config, CurveConfig):
        raise ConfigError(f"-f {args.file} is a learning-curve file: train its points with "
                          f"`python -m galaxy_lib curve -f {args.file}` (or render its report with `report -f`)")

    from galaxy_lib.data.dataset import data_folder

    configs = [member.config for member in config.members] if isinstance(config, EnsembleConfig) else [config]
    for each in configs:  # a missing data folder, and the command that makes it, named before TensorFlow loads
        data_folder(each)
    if isinstance(config, EnsembleConfig):
        train_ensemble(config, args.out)
        return 0
    from galaxy_lib.model import train

    train.train(config, args.out)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from galaxy_lib.model import predict

    runs = args.run if len(args.run) > 1 else args.run[0]
    predict.predict_to_csv(runs, args.images, args.out, batch_size=args.batch_size)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from galaxy_lib.config import load_config, parse_overrides
    from galaxy_lib.errors import ConfigError
    from galaxy_lib.evaluation import evaluate
    from galaxy_lib.model import ensemble
    from galaxy_lib.model.runs import RunFolder

    # The run's own configuration (or -f FILE) with --set/--data applied; evaluate_run refuses
    # any difference from the run's config.yaml other than evaluation keys and paths.
    overrides = parse_overrides(args.set or [])
    if args.data:
        overrides["data"] = args.data
    several = len(args.run) > 1
    if several and not args.out:
        raise ConfigError("several run folders are evaluated as an ensemble: name its folder with --out FOLDER")
    if args.out and not several:
        raise ConfigError("--out is for an ensemble of several run folders; a run is evaluated in its own folder")
    if args.file and (several or ensemble.EnsembleFolder.is_ensemble(args.run[0])):
        raise ConfigError("-f is for a single run; an ensemble's members are evaluated with their own "
                          "configurations (change evaluation keys with --set)")
    folder = ensemble.assemble(args.out, args.run) if several else ensemble.open_folder(args.run[0])
    if isinstance(folder, ensemble.EnsembleFolder):
        evaluate.evaluate_ensemble(folder.path, overrides=overrides)
        return 0
    config = load_config(args.file, overrides) if args.file else RunFolder(args.run[0]).load_config(overrides)
    evaluate.evaluate_run(args.run[0], config=config)
    return 0


def _curve(args: argparse.Namespace) -> int:
    from galaxy_lib.errors import ConfigError
    from galaxy_lib.model.ensemble import EnsembleConfig
    from galaxy_lib.parameters_file import CURVE, read
    from galaxy_lib.paths import display_path
    from galaxy_lib.studies import curve
    from galaxy_lib.studies.curve_file import CurveConfig, run_curves

    file = read(args.file) if args.file else None
    if file is not None and file.kind == CURVE:
        given = [flag for flag, value in (("--sizes", args.sizes), ("--seeds", args.seeds),
                                          ("--minutes", args.minutes), ("--out", args.out)) if value is not None]
        if given:
            raise ConfigError(f"-f {args.file} is a learning-curve file: its sizes, seeds, minutes and folder come "
                              f"from the file, so {', '.join(given)} cannot be given (edit the file, or name a run's "
                              "parameters file)")
    else:
        missing = [flag for flag, value in (("--sizes", args.sizes), ("--out", args.out)) if value is None]
        if missing:
            raise ConfigError(f"{' and '.join(missing)} required: e.g. --sizes 150,300,600,1200,all --out "
                              "runs/curve-NAME (or -f a learning-curve file that names them)")
        curve.parse_sizes(args.sizes)  # a bad size is named before the parameters file's keys or the data are read
    config = _config_from(args, file)
    if isinstance(config, CurveConfig):
        run_curves(config)
        return 0
    if isinstance(config, EnsembleConfig):
        raise ConfigError(f"-f {args.file} is an ensemble file; a learning curve trains one configuration "
                          "(give one member's parameters file)")
    record = {"parameters_file": display_path(args.file) if args.file else "", "overrides": list(args.set or [])}
    seeds = 1 if args.seeds is None else args.seeds
    curve.run_curve(config, args.out, args.sizes, seeds=seeds, minutes=args.minutes, record=record)
    return 0


def _report(args: argparse.Namespace) -> int:
    from galaxy_lib import report

    report.build_report(_config_from(args), kernel=args.kernel, config_file=args.file)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from galaxy_lib.report.compare import build_compare

    build_compare(args.run, args.name or "", config_file=args.file, kernel=args.kernel)
    return 0


def _class(args: argparse.Namespace) -> int:
    from pathlib import Path

    from galaxy_lib.errors import ConfigError
    from galaxy_lib.paths import display_path, resolve_path

    references = []
    for text in args.reference or []:
        name, sep, folder = text.partition("=")
        if not sep or not name.strip() or not folder.strip():
            raise ConfigError(f"--reference {text!r} is not NAME=RUN_FOLDER, e.g. paper=runs/paper")
        references.append((name.strip(), resolve_path(folder.strip())))
    assignment = args.assignment
    if assignment is None and resolve_path("parameters/default.yaml").is_file():
        assignment = "parameters/default.yaml"  # the course's default assignment
    from galaxy_lib.classroom.score import score_class

    result = score_class(resolve_path(args.submissions), resolve_path(args.key), resolve_path(args.out),
                         assignment=resolve_path(assignment) if assignment else None, references=references)
    scored = sum(row.scored for row in result.rows)
    flagged = sum(bool([f for f in row.flags if f.kind != "damaged"]) for row in result.rows)
    students = len({row.student for row in result.rows})
    print(f"{students} students, {len(result.rows)} rows: {scored} runs scored on the key "
          f"({result.scored_now} now, {result.from_cache} unchanged since the last scoring), {flagged} flagged; "
          f"{display_path(Path(result.out) / 'index.html')}")
    return 0


def _lab(args: argparse.Namespace) -> int:
    from galaxy_lib.report import lab

    return lab.run_lab(port=args.port, ip=args.ip, open_browser=not args.no_browser, extra=args.lab_args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m galaxy_lib",
        description="Galaxy Zoo VGG6: data checks, synthetic sky, training, evaluation and reports.",
    )
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    _add_data_verbs(sub)
    _add_model_verbs(sub)
    _add_report_verbs(sub)
    return parser


def _add_data_verbs(sub: argparse._SubParsersAction) -> None:
    """The verbs that check, generate or build a data set."""
    p = sub.add_parser("check-data", help="validate a Kaggle-layout data set and print a summary")
    p.add_argument("path", help="folder with images_training_rev1/ and training_solutions_rev1.csv, or the Kaggle zips")
    p.add_argument("--tolerance", type=float, default=0.01, help="allowed deviation from the tree sums (default 0.01)")
    p.add_argument("--skip-bad-images", action="store_true", help="list unreadable JPEGs instead of failing")
    p.add_argument("--resize-bad-size", action="store_true", help="accept images that are not 424x424 (resized)")
    p.add_argument("--full-decode", action="store_true", help="decode every image fully (slower; default: headers)")
    p.set_defaults(func=_check_data)

    p = sub.add_parser("synth", help="generate a synthetic Galaxy Zoo sky in Kaggle layout (-f: the sky a "
                                     "parameters file reads, as `report` makes it)")
    p.add_argument("-f", "--file", help="parameters file: make its synthetic sky (data, synthetic_n, synthetic_seed, "
                                        "synthetic_test_n) unless it is there")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="with -f: override a config key (repeatable)")
    p.add_argument("--n", type=int, default=None, help="labelled galaxies (default 2000)")
    p.add_argument("--test-n", type=int, default=None, help="unlabelled galaxies in images_test_rev1/ (default 0)")
    p.add_argument("--out", default=None, help="output folder, relative ones from the project root (required "
                                               "without -f)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    p.add_argument("--zip", action="store_true", help="write Kaggle's three zips instead of folders (JPEGs stored, "
                                                      "CSV deflated); an interrupted run resumes where it stopped")
    p.set_defaults(func=_synth)

    p = sub.add_parser("sample", help="build the real 3,399-galaxy sample (sample.yaml, improved.yaml) from "
                                      "Kaggle's zips, checked against the shipped list of its GalaxyIDs")
    p.add_argument("--kaggle", default=None, help="folder with images_training_rev1.zip (or the folder) and "
                                                  "training_solutions_rev1.csv (or .csv.zip); required unless "
                                                  "--synthetic")
    p.add_argument("--out", default=None, help="output folder (default data/galaxy-zoo-sample, "
                                               "where the configurations look for it)")
    p.add_argument("--manifest", default=None, help="GalaxyID,subset CSV to build (default: the shipped sample's)")
    p.add_argument("--key", metavar="FOLDER", default=None,
                   help="also set aside the instructor's key: held-back galaxies of the sample's unbiased GalaxyID "
                        "block that the sample does not hold (an --out built earlier is kept and checked against it)")
    p.add_argument("--key-n", type=int, default=None, help="galaxies in the key (default 665)")
    p.add_argument("--key-seed", type=int, default=None, help="seed that draws the key's galaxies (default 0; "
                                                              "keep yours private for a synthetic key)")
    p.add_argument("--synthetic", action="store_true",
                   help="write only a key of the synthetic sky (no download): galaxies the students' sky never "
                        "holds; needs --key")
    p.add_argument("-f", "--file", default=None, help="with --synthetic: the students' parameters file "
                                                      "(default parameters/default.yaml)")
    p.set_defaults(func=_sample)


def _config_args(p: argparse.ArgumentParser) -> None:
    """The options of the verbs that start from a configuration: its file, overrides and data set."""
    p.add_argument("-f", "--file", help="parameters/NAME.yaml (defaults: the paper's settings)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one config key (repeatable)")
    p.add_argument("--data", help="data set path (overrides the file's `data`)")


def _add_model_verbs(sub: argparse._SubParsersAction) -> None:
    """The verbs that train runs and use them: train, predict, evaluate, and the learning curve."""
    p = sub.add_parser("train", help="train a model into a run folder (resumes an interrupted run), "
                                     "or every member of an ensemble file into an ensemble folder")
    _config_args(p)
    p.add_argument("--out", required=True, help="run folder, e.g. runs/NAME (for an ensemble file: its folder)")
    p.set_defaults(func=_train)

    p = sub.add_parser("predict", help="write a Kaggle submission CSV for a folder or zip of images")
    p.add_argument("run", nargs="+", help="run folder made by `train`, an ensemble folder, or several run folders "
                                          "(their predictions are averaged)")
    p.add_argument("images", help="folder or zip of 424x424 JPEGs, e.g. images_test_rev1")
    p.add_argument("--out", required=True, help="CSV to write")
    p.add_argument("--batch-size", type=int, default=64)
    p.set_defaults(func=_predict)

    p = sub.add_parser("evaluate", help="held-out metrics, baselines, AUC table and figures for a run or ensemble")
    p.add_argument("run", nargs="+", help="run folder made by `train`, an ensemble folder, or several run folders "
                                          "(evaluated as an ensemble written into --out)")
    p.add_argument("--out", help="the ensemble folder to write when several run folders are given")
    p.add_argument("-f", "--file", help="parameters/NAME.yaml (default: the run's own config.yaml)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override an evaluation key, e.g. tta=dihedral or bootstrap=200 (repeatable)")
    p.add_argument("--data", help="data set path (default: the run's own)")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("curve", help="learning curve: train one configuration on nested subsets of the training "
                                     "galaxies (same validation and test galaxies), resumable; curve.csv and figures "
                                     "(-f a learning-curve file: its curves, as its report needs them)")
    _config_args(p)
    p.add_argument("--sizes", help="training-set sizes, comma-separated; 'all' = every training "
                                   "galaxy of the split, e.g. 150,300,600,1200,all (required unless -f names a "
                                   "learning-curve file)")
    p.add_argument("--seeds", type=int, default=None,
                   help="training seeds per size: the configuration's seed, seed+1, ... (default 1; the split and "
                        "subsets stay the same)")
    p.add_argument("--minutes", type=float, default=None, help="each point's training budget "
                                                               "(time_limit_minutes; default: the file's)")
    p.add_argument("--out", help="curve folder, e.g. runs/curve-NAME (one run folder per point; required unless -f "
                                 "names a learning-curve file)")
    p.set_defaults(func=_curve)


def _add_report_verbs(sub: argparse._SubParsersAction) -> None:
    """The verbs that show results to people: reports, comparisons, the class index and JupyterLab."""
    p = sub.add_parser("report", help="execute the notebooks with papermill and render HTML reports "
                                      "(-f a learning-curve file: the learning-curve report)")
    _config_args(p)
    p.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the current Python)")
    p.set_defaults(func=_report)

    p = sub.add_parser("compare", help="a report comparing two or more finished, evaluated runs (configuration "
                                       "differences, training curves, held-out figures with baselines, AUC "
                                       "intervals) in reports/compare-NAME/")
    p.add_argument("run", nargs="*", help="run (or ensemble) folders, e.g. runs/A runs/B")
    p.add_argument("--name", help="the report's name: reports/compare-NAME/ (default: the -f file's `name`)")
    p.add_argument("-f", "--file", help="a comparison file naming the runs (`runs:` list, optional `name:`)")
    p.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the current Python)")
    p.set_defaults(func=_compare)

    p = sub.add_parser("class", help="score every student's run on the instructor's held-back galaxies: a "
                                     "sortable class index with flags, class.csv and a figure in --out")
    p.add_argument("submissions", help="folder with one sub-folder (or zip) per student holding their runs/ and "
                                       "reports/ (or a whole checkout), or nbgrader's submitted/STUDENT/ASSIGNMENT/")
    p.add_argument("--key", required=True, help="the instructor's key folder, written by `sample --key`")
    p.add_argument("--out", default="reports/class", help="output folder (default reports/class); nothing is "
                                                          "written elsewhere")
    p.add_argument("--assignment", default=None, help="the parameters file the class was given; each row lists "
                                                      "its changes against it (default parameters/default.yaml)")
    p.add_argument("--reference", action="append", metavar="NAME=RUN_FOLDER",
                   help="a run the instructor trained (e.g. paper=runs/paper), scored the same way and drawn as "
                        "a reference line (repeatable)")
    p.set_defaults(func=_class)

    p = sub.add_parser("lab", help="register the project's Jupyter kernel (once) and start JupyterLab on the "
                                   "notebooks; as root too (--allow-root is added)")
    p.add_argument("--port", type=int, default=None, help="port (default: Jupyter's, 8888 or the next free one; "
                                                          "0: any free port)")
    p.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only; "
                                                     "0.0.0.0 to reach a container's Lab from outside)")
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    p.add_argument("lab_args", nargs="*", metavar="-- JUPYTERLAB_ARGS",
                   help="passed on to `jupyter lab` after a `--`, e.g. -- --IdentityProvider.token=SECRET")
    p.set_defaults(func=_lab)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb and return its exit status.

    Only :class:`~galaxy_lib.errors.GalaxyLibError` is the user's fault and becomes one line on
    stderr with status 2, and so does an ``OSError`` of a full, read-only or forbidden disk
    (:data:`~galaxy_lib.errors.DISK_ERRNOS`). Every other exception propagates with its traceback (``python -m
    galaxy_lib`` then exits 1): catching ``ValueError`` here would print a bug as if the user had
    made a mistake.
    """
    args = build_parser().parse_args(argv)
    from galaxy_lib.errors import GalaxyLibError
    from galaxy_lib.paths import disk_error

    try:
        return args.func(args)
    except (GalaxyLibError, OSError) as exc:
        # A full, read-only or forbidden disk is the place's fault, not a bug, also where no library
        # call named the path (GalaxyLibError's DiskError usually does); other OSErrors are bugs.
        error = exc if isinstance(exc, GalaxyLibError) else disk_error(exc, exc.filename, verb="")
        if error is None:
            raise
        message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())  # always one line
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
