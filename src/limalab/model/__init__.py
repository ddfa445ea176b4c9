"""The LightningModule around LlamaForCausalLM, its dropout schedule and the base model."""
