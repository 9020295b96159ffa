from django.urls import path

from .views import alt_text, assist, chat, compare, gallery, style_guide, media, prompts, publishing, tester, tokens

app_name = "blogimages"

# The author's pages, mounted at /images/.
urlpatterns = [
    path("", gallery.gallery, name="gallery"),
    path("bulk/", gallery.gallery_bulk, name="gallery_bulk"),
    path("zip/", gallery.gallery_zip, name="gallery_zip"),
    path("<int:pk>/", gallery.image_detail, name="image_detail"),
    path("<int:pk>/download/", gallery.image_download, name="image_download"),
    path("<int:pk>/delete/", gallery.image_delete, name="image_delete"),
    path("<int:pk>/use/", publishing.image_use, name="image_use"),
    path("<int:pk>/alt/", publishing.image_alt, name="image_alt"),
    path("<int:pk>/focal/", publishing.image_focal, name="image_focal"),
    path("<int:pk>/status/", tester.output_status, name="output_status"),
    path("<int:pk>/retry/", tester.output_retry, name="output_retry"),
    path("assist/", assist.assist_proposal, name="assist"),
    path("alt-text/", alt_text.alt_text_missing, name="alt_text_missing"),
    path("alt-text/<int:pk>/suggest/", alt_text.alt_text_suggest, name="alt_text_suggest"),
    path("chat/", chat.chat_list, name="chat_list"),
    path("chat/<int:pk>/", chat.chat_thread, name="chat_thread"),
    path("chat/<int:pk>/messages/", chat.chat_messages, name="chat_messages"),
    path("chat/<int:pk>/messages/<int:message_id>/", chat.chat_message, name="chat_message"),
    path("chat/<int:pk>/messages/<int:message_id>/stream/", chat.chat_stream, name="chat_stream"),
    path("chat/<int:pk>/rename/", chat.chat_rename, name="chat_rename"),
    path("chat/<int:pk>/delete/", chat.chat_delete, name="chat_delete"),
    path("chat/<int:pk>/use/<int:output_id>/", chat.chat_use, name="chat_use"),
    path("style-guide/", style_guide.style_guide_edit, name="style_guide"),
    path("test/", tester.tester, name="tester"),
    path("compare/", compare.compare, name="compare"),
    path("prompts/", prompts.example_list, name="prompt_list"),
    path("prompts/new/", prompts.example_create, name="example_create"),
    path("prompts/post-fields/", prompts.post_fields, name="post_fields"),
    path("prompts/post-sections/", prompts.post_sections, name="post_sections"),
    path("prompts/import-field/", prompts.import_field, name="import_field"),
    path("prompts/<int:pk>/", prompts.example_detail, name="example_detail"),
    path("prompts/<int:pk>/edit/", prompts.example_edit, name="example_edit"),
    path("prompts/<int:pk>/duplicate/", prompts.example_duplicate, name="example_duplicate"),
    path("prompts/<int:pk>/delete/", prompts.example_delete, name="example_delete"),
    path("media/<str:token>/<str:leaf>", media.serve, name="signed_media"),
    path("tokens/", tokens.token_list, name="token_list"),
    path("tokens/<int:pk>/revoke/", tokens.token_revoke, name="token_revoke"),
]
