#!/usr/bin/env bash
# download_model.sh, the reference's name for syncnet-download (syncnet/cli/download.py): fetches
# data/syncnet_v2.model, data/example.avi and detectors/s3fd/weights/sfd_face.pth into the checkout
# that holds this script, each verified by its checksum. Settings come from the environment
# (SYNCNET_MIRROR, SYNCNET_CA_BUNDLE, SYNCNET_ONLY, SYNCNET_DEST, ...): `bash download_model.sh --help`,
# docs/models.md. PYTHON names the interpreter (default python3); this checkout's code is imported.
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd) && exec "${PYTHON:-python3}" -c 'import sys; sys.argv[0] = "download_model.sh"; sys.path[0] = sys.argv.pop(1); from syncnet.cli.download import main; sys.exit(main())' "$root" "$@"
