def main() -> None:
    print("injectq")
