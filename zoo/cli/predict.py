"""``zoo predict MODEL IMAGE_OR_FOLDER...``: labels and probabilities from a trained model."""

HELP = "labels and probabilities for images from a checkpoint (.keras) or a registered name with ImageNet weights"


def add_arguments(parser):
    parser.add_argument("model", help="a .keras checkpoint (zoo bench saves one per run) or a registered name "
                                      "(built with weights='imagenet')")
    parser.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files and/or folders of images")
    parser.add_argument("--top", type=int, default=5, metavar="K", help="labels per image (default 5)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args) -> int:
    import json

    from zoo.predict import image_paths, load_predictor, predict

    paths = image_paths(args.images)  # bad paths fail before the model loads
    records = predict(load_predictor(args.model), paths, top=args.top)
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    for record in records:
        print(record["image"])
        for p in record["predictions"]:
            print(f"  {100 * p['probability']:6.2f}%  {p['label']}")
    return 0
