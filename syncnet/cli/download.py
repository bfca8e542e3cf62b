"""syncnet-download (download_model.sh): the model files and the example clip, fetched and each
verified by its checksum: syncnet_v2.model and example.avi to data/, sfd_face.pth to
detectors/s3fd/weights/ in a checkout; into the model cache when installed.

    syncnet-download
    SYNCNET_MIRROR=/path/to/folder syncnet-download
    SYNCNET_DEST=~/.cache/syncnet bash download_model.sh

One line per file on stdout; a file that failed gets one line on stderr instead. Exit status:
0 when every file handled is in place and verified, 1 when any failed, 2 for a malformed
setting (reported before any file is handled).
"""
import argparse
import os
import sys

from syncnet.cli import add_reporting_options, make_parser, run_command
from syncnet.models.download import (
    OFFLINE_HINT,
    SettingsError,
    fetch_files,
    settings_from_environment,
)
from syncnet.models.files import MODEL_FILES
from syncnet.runtime.logs import program

COMMAND = "syncnet-download"
EXIT_SETTINGS = 2

ENVIRONMENT = f"""environment (all optional; docs/models.md):
  SYNCNET_MIRROR     a folder to copy the files from, or an http:// or https:// base URL to
                     download BASE/NAME from; a file the mirror lacks (absent, HTTP 404 or 410)
                     comes from the official site, any other mirror failure fails that file
  SYNCNET_CA_BUNDLE  a PEM file of CA certificates for an https:// mirror
  SYNCNET_ONLY       the names of the files to handle, e.g. "example.avi syncnet_v2.model"
  SYNCNET_DEST       put every file in this folder instead, e.g. ~/.cache/syncnet
  {", ".join(spec.override for spec in MODEL_FILES.values())}
                     the checksum a file must have instead of the official one (stand-in files,
                     a mirror's re-released copy)

A download that fails says so in one line per file, pointing to the offline options:
{OFFLINE_HINT}."""


def build_parser(argv=None):
    parser = make_parser(COMMAND, "Fetch the SyncNet model, the S3FD face detector's weights and the example clip\n"
                         f"({', '.join(MODEL_FILES)}), each verified by its checksum before it takes\n"
                         "its place; a valid file already there is kept.", argv, module="syncnet.cli.download")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # the lines of ENVIRONMENT's table
    parser.epilog = ENVIRONMENT
    add_reporting_options(parser)
    return parser


def run(args):
    """Fetch the files the environment asks for; one line each."""
    try:
        settings = settings_from_environment(os.environ)
    except SettingsError as error:
        print(f"{program()}: {error}", file=sys.stderr)
        return EXIT_SETTINGS
    failed = False
    for report in fetch_files(settings, quiet=args.quiet):
        if report.failed:
            failed = True
            print(f"{program()}: {report}", file=sys.stderr)
        else:
            print(report, flush=True)
    return 1 if failed else 0


def main(argv=None):
    return run_command(build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
