"""Pieces shared by methods: backbones, the localization model, losses, augmentation."""
